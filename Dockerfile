# One image for every service; docker-compose.yml chooses the service with `command`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 novahouse \
    && useradd --system --uid 10001 --gid novahouse --home-dir /app --no-create-home novahouse

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the code, and the stubs generated from the contracts (never committed).
COPY protos ./protos
COPY services ./services
RUN python -m services.runtime.protogen protos . \
    && mkdir -p /app/var \
    && chown novahouse:novahouse /app/var

USER novahouse

# Inside a container the servers listen on every interface; compose publishes only the gateway.
ENV GRPC_HOST=0.0.0.0 \
    GATEWAY_HOST=0.0.0.0 \
    VAR_DIR=/app/var

EXPOSE 8080 50051 50052 50053 9460 9461 9462 9463
CMD ["python", "-m", "services.gateway"]
