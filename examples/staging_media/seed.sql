-- The media service's tables as staging has them, with earlier uploads already clustered.
CREATE TABLE pets (
  id         text PRIMARY KEY,
  name       text NOT NULL
);
CREATE TABLE photo_insights (
  photo_id     text PRIMARY KEY,
  pet_id       text NOT NULL REFERENCES pets (id),
  embedding    text,
  cluster_id   integer,
  clustered_at timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO pets (id, name) VALUES ('pet-staging-1', 'Biscuit'), ('pet-staging-2', 'Mochi');
INSERT INTO photo_insights (photo_id, pet_id, embedding, cluster_id, clustered_at, created_at)
SELECT 'photo-' || lpad(i::text, 4, '0'), 'pet-staging-' || (1 + i % 2),
       '[0.' || i || ',0.5,0.25]', i % 5, now() - (i || ' hours')::interval,
       now() - (i || ' hours')::interval
FROM generate_series(1, 40) AS i;
