-- Shared fixture: 2,000 fact rows whose target references a 10-row dimension, and a full-mode
-- job copying them (schema life).
CREATE TABLE life.dim (id int PRIMARY KEY, name text);
INSERT INTO life.dim SELECT g, 'd' || g FROM generate_series(1, 10) g;
CREATE TABLE life.f_src (id int PRIMARY KEY, dim_id int, ts timestamptz NOT NULL);
CREATE TABLE life.facts (id int PRIMARY KEY, dim_id int REFERENCES life.dim, ts timestamptz);
INSERT INTO life.f_src SELECT g, g % 10 + 1, now() - interval '1 hour' FROM generate_series(1, 2000) g;
SELECT job_name FROM sync_define('life_facts', source => 'life.f_src', target => 'life.facts', key => '{id}',
                                 mode => 'full');
