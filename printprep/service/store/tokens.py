"""API tokens: random, shown once, stored only as their SHA-256 hash."""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa

from printprep.errors import PrintprepError
from printprep.service.store.models import hash_token, iso
from printprep.service.store.schema import tokens_table


class TokensMixin:
    """Creating and checking API tokens."""

    engine: sa.Engine

    def create_token(self, name: str) -> str:
        """Create an API token named ``name``; return it (only its hash is stored)."""
        if not name or len(name) > 200:
            raise PrintprepError("a token needs a name of 1-200 characters")
        token = "pp_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                tokens_table.insert().values(
                    name=name, token_hash=hash_token(token), created_at=time.time()
                )
            )
        return token

    def token_name(self, token: str) -> str | None:
        """The name of a valid token, else None (constant-time compare of hashes)."""
        if not token:
            return None
        digest = hash_token(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(tokens_table.c.name, tokens_table.c.token_hash).where(
                    tokens_table.c.token_hash == digest
                )
            ).first()
        if row is None or not secrets.compare_digest(row[1], digest):
            return None
        return row[0]

    def verify_token(self, token: str) -> bool:
        """True if ``token`` is a valid API token."""
        return self.token_name(token) is not None

    def count_tokens(self) -> int:
        """How many API tokens exist."""
        with self.engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(tokens_table)).scalar_one()
            )

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token's id, name and creation time (never the token or its hash)."""
        q = sa.select(tokens_table.c.id, tokens_table.c.name, tokens_table.c.created_at)
        with self.engine.connect() as conn:
            return [
                {"id": r.id, "name": r.name, "created_at": iso(r.created_at)}
                for r in conn.execute(q.order_by(tokens_table.c.id))
            ]
