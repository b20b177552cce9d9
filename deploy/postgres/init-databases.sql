-- One database per service (SPEC §6), created when the PostgreSQL volume is first initialised.
CREATE DATABASE consent;
CREATE DATABASE notifier;
CREATE DATABASE chat;
