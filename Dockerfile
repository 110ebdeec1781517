# Production image: gunicorn serves the app; the same image runs the Celery worker and beat
# (docker-compose.yml picks the command, and health-checks web only: the worker serves no HTTP).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMS_VAR_DIR=/app/var

WORKDIR /app

# Dependencies first, from pyproject.toml alone (it installs no packages of its own:
# `packages = []`), so a code change does not reinstall them.
COPY pyproject.toml ./
RUN pip install .

COPY . .
RUN useradd --system --uid 10001 --home-dir /app oms \
    && mkdir -p /app/var \
    && chown -R oms:oms /app/var
USER oms

EXPOSE 8000

# Migrate and collect static files before serving; the worker and beat override this command.
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py collectstatic --noinput && exec gunicorn oms.wsgi:application --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --access-logfile -"]
