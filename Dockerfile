# One image for every service; the command chooses the service (docker-compose.yml, deploy/k8s/).
# Two stages: the build stage installs the pinned dependencies into a virtualenv and generates the stubs
# with grpcio-tools; the runtime stage gets the virtualenv without grpcio-tools, and the code.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -m venv /opt/venv \
    && python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps))" \
    && /opt/venv/bin/pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the code, and the stubs generated from the contracts (never committed).
COPY protos ./protos
COPY services ./services
COPY deploy/compose/init.py ./deploy/compose/init.py
RUN /opt/venv/bin/python -m services.runtime.protogen protos . \
    && /opt/venv/bin/pip uninstall --yes grpcio-tools setuptools \
    && /opt/venv/bin/python -m compileall -q services novahouse deploy


FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

RUN groupadd --system --gid 10001 novahouse \
    && useradd --system --uid 10001 --gid novahouse --home-dir /app --no-create-home novahouse

WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app/services ./services
COPY --from=build /app/novahouse ./novahouse
COPY --from=build /app/buf ./buf
COPY --from=build /app/deploy ./deploy
RUN mkdir -p /app/var && chown novahouse:novahouse /app/var && chmod 0700 /app/var

# Numeric, so that Kubernetes can check runAsNonRoot against the image.
USER 10001:10001

# Inside a container the servers listen on every interface; compose publishes only the gateway.
ENV GRPC_HOST=0.0.0.0 \
    GATEWAY_HOST=0.0.0.0 \
    VAR_DIR=/app/var

EXPOSE 8080 50051 50052 50053 9460 9461 9462 9463
CMD ["python", "-m", "services.gateway"]
