"""The local HTTP endpoint: OpenAI-compatible /v1 and Ollama-compatible /api over the same services.

    EndpointServer(workbench, ServeConfig(...)).start() / .stop()   (serve/server.py; the GUI and `workbench serve`)
    create_app(workbench, config) -> FastAPI                          (serve/app.py)
    server.state.key_metrics() / .request_log(n) / .metrics           (serve/state.py, serve/metrics.py)

Importing this package is light: FastAPI, uvicorn and llama.cpp load with the modules above.
"""
