# Production image: the API, the workers and the migrate job all run from it.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 EE_DATA_DIR=/data
RUN useradd --create-home --uid 10001 effigies && mkdir -p /data && chown effigies /data
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY effigies ./effigies
COPY migrations ./migrations
COPY frontend ./frontend
RUN pip install -e .

USER effigies
EXPOSE 8000
CMD ["effigies", "api", "--host", "0.0.0.0"]
