# One image for the web app and the worker (the command differs). Reflex is run in production mode:
# the frontend is exported at build time and served by the backend process on one port.
FROM python:3.11-slim-bookworm

# Production unless told otherwise: the app then refuses to start without a real SECRET_KEY.
ENV AGORAX_ENV=production \
    PYTHONUNBUFFERED=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_CHECK_LATEST_VERSION=false \
    REFLEX_USE_SYSTEM_BUN=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH

RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm unzip curl \
    && npm install --global bun && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv==0.13.8

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
# The export only compiles pages: no key is signed with, so the build needs none.
RUN uv sync --frozen --no-dev && AGORAX_ENV=development reflex export --frontend-only --no-zip --env prod >/dev/null

EXPOSE 3000
CMD ["sh", "-c", "agorax migrate && reflex run --env prod --backend-host 0.0.0.0"]
