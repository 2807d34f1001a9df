-- The compose Postgres holds two databases: mlflow (POSTGRES_DB, created by the image) and airflow.
CREATE DATABASE airflow;
