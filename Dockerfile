# The ticketforge image: one image for every process (`api`, `worker`, `projector`,
# `setup`, `serve`); the command picks the role. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libpq for psycopg (PostgreSQL); nothing else is needed at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY application ./application
COPY projections ./projections
COPY infrastructure ./infrastructure
COPY interfaces ./interfaces
RUN pip install . \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/ticketforge ticketforge

USER ticketforge
WORKDIR /var/lib/ticketforge
ENV TICKETFORGE_DATA_DIR=/var/lib/ticketforge
EXPOSE 8000
ENTRYPOINT ["ticketforge"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
