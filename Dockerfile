FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY lmo ./lmo
COPY packages ./packages
COPY licenses ./licenses
COPY features ./features
COPY leads ./leads
COPY staff ./staff
COPY subscribers ./subscribers
COPY jobs ./jobs
COPY templates ./templates
COPY static ./static
COPY manage.py Procfile gunicorn.conf.py ./
RUN pip install --no-cache-dir -e . && mkdir -p var
EXPOSE 8000
# Threaded workers with timeouts: see gunicorn.conf.py.
CMD ["gunicorn", "lmo.wsgi:application", "-c", "gunicorn.conf.py"]
