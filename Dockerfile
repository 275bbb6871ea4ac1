# Loomworks under gunicorn, static files served by whitenoise. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN pip install .

COPY . .
# The code runs from /app (PYTHONPATH), where templates/ and static/ sit beside it.
RUN DEBUG=0 SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --no-input \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin loomworks \
    && mkdir -p var \
    && chown loomworks var

USER loomworks
EXPOSE 8000

# docker-compose.yml runs `manage.py migrate` before this.
CMD ["gunicorn", "loomworks.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--access-logfile", "-"]
