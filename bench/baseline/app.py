"""The baseline: POST /api/unsubscribe as the old system did it, a Flask app with Flask-Limiter and
Flask-SQLAlchemy models, writing the same consent change and audit row to the consent service's own
tables (same database, same pseudonym key), run by gunicorn with sync workers.

    gunicorn --workers 2 'bench.baseline.app:create_app()'

BASELINE_DATABASE_URL   the consent service's database (its tables must exist)
BASELINE_PSEUDONYM_KEY  the consent service's CONSENT_PSEUDONYM_KEY
BASELINE_STORAGE_URI    Flask-Limiter storage: redis://... or memory://
BASELINE_LIMITS         the default limits, e.g. "100000 per hour;100000 per minute"
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
from typing import Any

from flask import Flask, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import BigInteger, Boolean, Column, DateTime, String, Text

db = SQLAlchemy()
# The models' base class, typed as Any: Flask-SQLAlchemy is the bench extra, which `make lint` lacks.
Model: Any = db.Model


class ConsentSubject(Model):
    __tablename__ = "consent_subjects"

    id = Column(BigInteger, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    pseudonym = Column(String(64), nullable=False, unique=True)
    marketing_consent = Column(Boolean, nullable=False)
    rodo_consent = Column(Boolean, nullable=False)
    unsubscribed = Column(Boolean, nullable=False)
    last_action = Column(String(32))
    last_action_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False)
    updated_at = Column(DateTime(timezone=True), nullable=False)


class ConsentAuditLog(Model):
    __tablename__ = "consent_audit_log"

    id = Column(BigInteger, primary_key=True)
    subject_pseudonym = Column(String(64), nullable=False)
    action = Column(String(32), nullable=False)
    occurred_at = Column(DateTime(timezone=True), nullable=False)
    marketing_consent = Column(Boolean, nullable=False)
    rodo_consent = Column(Boolean, nullable=False)
    ip_address = Column(String(64), nullable=False)
    user_agent = Column(String(512), nullable=False)
    reason = Column(Text, nullable=False)
    source = Column(String(64), nullable=False)
    consent_text_version = Column(String(64), nullable=False)
    request_id = Column(String(128), nullable=False)


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["BASELINE_DATABASE_URL"]
    key = os.environ["BASELINE_PSEUDONYM_KEY"].encode()
    db.init_app(app)
    # As the old main.py configured it (seeds: fixed-window, per remote address, headers for clients).
    Limiter(
        get_remote_address,
        app=app,
        default_limits=os.environ.get("BASELINE_LIMITS", "200 per hour;50 per minute").split(";"),
        storage_uri=os.environ.get("BASELINE_STORAGE_URI", "memory://"),
        strategy="fixed-window",
        headers_enabled=True,
    )

    @app.get("/health")
    def health() -> tuple:
        return jsonify({"status": "ok"}), 200

    @app.post("/api/unsubscribe")
    def unsubscribe() -> tuple:
        data = request.get_json(silent=True) or {}
        email = str(data.get("email", "")).strip().lower()
        if "@" not in email:
            return jsonify({"success": False, "error": "email is required"}), 400
        reason = str(data.get("reason", ""))
        now = dt.datetime.now(dt.UTC)
        pseudonym = hmac.new(key, email.encode(), hashlib.sha256).hexdigest()
        subject = db.session.query(ConsentSubject).filter_by(email=email).with_for_update().one_or_none()
        if subject is None:
            subject = ConsentSubject(
                email=email,
                pseudonym=pseudonym,
                marketing_consent=False,
                rodo_consent=False,
                unsubscribed=False,
                created_at=now,
                updated_at=now,
            )
            db.session.add(subject)
        subject.marketing_consent = False
        subject.unsubscribed = True
        subject.last_action = "unsubscribe"
        subject.last_action_at = now
        subject.updated_at = now
        db.session.add(
            ConsentAuditLog(
                subject_pseudonym=pseudonym,
                action="unsubscribe",
                occurred_at=now,
                marketing_consent=subject.marketing_consent,
                rodo_consent=subject.rodo_consent,
                ip_address=request.remote_addr or "",
                user_agent=request.headers.get("User-Agent", "")[:512],
                reason=reason,
                source="api",
                consent_text_version="",
                request_id=request.headers.get("X-Request-ID", ""),
            )
        )
        db.session.commit()
        return jsonify(
            {"success": True, "message": "Successfully unsubscribed from marketing emails", "email": email}
        ), 200

    return app
