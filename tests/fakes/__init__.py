"""Fakes of external services that speak the real wire protocol over loopback.

Each runs in a real uvicorn server on a free 127.0.0.1 port (see `server.py`), so the real
client libraries (google-genai, httpx) talk to them exactly as they would to the service.
"""
