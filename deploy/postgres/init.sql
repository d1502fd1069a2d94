-- Runs once, when the TimescaleDB container initialises its data volume.
CREATE ROLE sensormine LOGIN PASSWORD 'sensormine';
CREATE DATABASE sensormine_metadata OWNER sensormine;
CREATE DATABASE sensormine_timeseries OWNER sensormine;
\connect sensormine_timeseries
CREATE EXTENSION IF NOT EXISTS timescaledb;
