-- A clip says what it delivered against what was asked: the asked span and,
-- when the clip covers less, why (the pipeline restarted, it is stopped, the
-- ring holds less). Rows from before this migration asked for what they got.
ALTER TABLE clips ADD COLUMN asked_start_ns INTEGER;
ALTER TABLE clips ADD COLUMN asked_end_ns INTEGER;
ALTER TABLE clips ADD COLUMN asked_s REAL;
ALTER TABLE clips ADD COLUMN shortfall TEXT;
