"""Files opened while the app already runs: a second `workbench gui FILE` (a double-click on a .gguf or
.wbundle) hands FILE to the running window over a local socket and exits, instead of a second window.

One socket name per data folder (Qt's QLocalServer: a Unix socket, a named pipe on Windows). The running app
holds the data folder's lock (ui/main.py), so a socket left by a crashed process is stale and is replaced.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

TIMEOUT_MS = 3000


def server_name(data_dir: Path) -> str:
    return "workbench-" + hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]


class FileHandoff(QObject):
    """Listens for paths sent by later starts; `file_received` carries each one."""

    file_received = Signal(Path)

    def __init__(self, data_dir: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.name = server_name(data_dir)
        QLocalServer.removeServer(self.name)  # a crashed run's socket: this process holds the lock now
        self.server = QLocalServer(self)
        self.server.newConnection.connect(self._accept)
        self.listening = self.server.listen(self.name)

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():  # the path ends with a newline; wait for the rest
            return
        path = bytes(socket.readLine()).decode("utf-8").rstrip("\n")
        socket.write(b"ok\n")
        socket.flush()
        if path:
            self.file_received.emit(Path(path))


def send_to_running(data_dir: Path, file: Path) -> bool:
    """Hand `file` to the app running on `data_dir`; False when none answers."""
    socket = QLocalSocket()
    socket.connectToServer(server_name(data_dir))
    if not socket.waitForConnected(TIMEOUT_MS):
        return False
    socket.write(str(Path(file).resolve()).encode("utf-8") + b"\n")
    socket.flush()
    answered = socket.waitForReadyRead(TIMEOUT_MS) and bytes(socket.readLine()).startswith(b"ok")
    socket.disconnectFromServer()
    return answered
