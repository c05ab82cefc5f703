"""The anchor of ``tidehash bench registry --bare``: a minimal FastAPI endpoint over a
bare ``tidehash.Index`` (one search per request, no auth, no batching), the figure
platforms would get by wrapping the engine themselves.

``create_app(index_path)``: ``POST /lookup {"pdq": HEX64}`` -> ``{"matches": [{"id",
"distance"}]}`` within 31 bits; ``GET /healthz``."""

# no `from __future__ import annotations`: FastAPI must see the model class itself


def create_app(index_path: str):
    from fastapi import FastAPI
    from pydantic import BaseModel

    from tidehash import Index

    index = Index.load(index_path)
    index.build_mih()
    app = FastAPI()

    class Query(BaseModel):
        pdq: str

    @app.get("/healthz")
    async def healthz():
        return {"ok": True}

    @app.post("/lookup")
    async def lookup(q: Query):
        _, ids, dist = index.search_range(q.pdq, 31)
        return {"matches": [{"id": f"{i:016x}", "distance": d}
                            for i, d in zip(ids.tolist(), dist.tolist())]}

    return app
