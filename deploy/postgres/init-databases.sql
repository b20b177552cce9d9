-- One database per service (docs/design.md), created when the PostgreSQL volume is first initialised.
CREATE DATABASE consent;
CREATE DATABASE notifier;
CREATE DATABASE chat;
