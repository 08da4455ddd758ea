# One image for every service of the system: the registry, the notifier and the adoption service
# (each an HTTP app and a worker), the web pages, and the `ioc` command. What a container runs is its
# command (docker-compose.yml and deploy/k8s name one per container). Build from the repository root:
#   docker build -t ioc-halong/app .

# --- assets: the web pages' npm packages as locked, copied into static/vendor; the image ships no Node
FROM python:3.11-slim-bookworm AS assets
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
# Node trusts the system's certificates too (a proxy's own CA, where builds go through one).
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
WORKDIR /src/services/web
COPY services/web/package.json services/web/package-lock.json services/web/build-assets.mjs ./
RUN npm ci --omit=dev --no-audit --no-fund && npm run build

# --- build: the locked dependencies and the project, compiled, in a virtual environment
FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv
RUN python -m pip install --no-cache-dir "uv>=0.5,<1"
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY shared ./shared
COPY services ./services
RUN uv sync --frozen --no-dev --no-editable

# --- run: the environment alone, as an unprivileged user; no compiler, no uv, no sources
FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home ioc
COPY --from=build /opt/venv /opt/venv
COPY services/web/static /app/static
COPY --from=assets /src/services/web/static/vendor /app/static/vendor
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 IOC_LOG_JSON=true \
    IOC_STATIC_DIR=/app/static
WORKDIR /app
USER ioc
EXPOSE 8000 8001 8002 8003
# uvicorn and arq both finish in-flight work on SIGTERM before they exit.
STOPSIGNAL SIGTERM
# Without a command of its own, a container runs the registry's HTTP app.
CMD ["uvicorn", "services.api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--proxy-headers"]
