"""The local HTTP endpoint: OpenAI-compatible /v1 and Ollama-compatible /api over the same services.

`EndpointServer(workbench, ServeConfig(...)).start()` / `.stop()` (server.py) runs `create_app(workbench,
config)` (app.py). Importing this package is light: FastAPI, uvicorn and llama.cpp load with those modules
(docs/design.md §7).
"""
