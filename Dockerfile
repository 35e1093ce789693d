# The chargewatch image: one image, one entrypoint; the subcommand picks the role
# (`worker`, `sink`, `simulate`, `topics create`, ...). See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that this layer is rebuilt
# only when they change. Every one ships manylinux wheels for CPython 3.11:
# no compiler needed.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > requirements.txt \
    && pip install -r requirements.txt

# Then the project itself: only what `pip install .` needs (pyproject lists the
# packages explicitly); tests, deploy/ and bench/ stay out of the image.
COPY README.md ./
COPY chargewatch ./chargewatch
COPY schemas ./schemas
COPY streams ./streams
COPY sinks ./sinks
RUN pip install --no-deps . \
    && cd / && rm -rf /src

# Unprivileged runtime user. Its home is the working directory, so the relative
# defaults (var/faust, var/clickhouse) land in /var/lib/chargewatch/var, which
# compose mounts as a named volume (Docker copies this ownership into it).
RUN useradd --system --uid 10001 --user-group --create-home \
        --home-dir /var/lib/chargewatch --shell /usr/sbin/nologin chargewatch \
    && install -d -o chargewatch -g chargewatch /var/lib/chargewatch/var
USER chargewatch
WORKDIR /var/lib/chargewatch

# In a container /metrics must listen beyond loopback to be scraped.
ENV CHARGEWATCH_VAR_DIR=/var/lib/chargewatch/var \
    CHARGEWATCH_METRICS_HOST=0.0.0.0
# worker and sink /metrics (CHARGEWATCH_WORKER_METRICS_PORT, CHARGEWATCH_SINK_METRICS_PORT)
EXPOSE 9108 9109

ENTRYPOINT ["chargewatch"]
CMD ["--help"]
