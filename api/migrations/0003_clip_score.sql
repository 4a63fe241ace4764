-- What highlight detection saw over a clip (an auto-clip, or a clip an AI
-- task scored): JSON {score, peak_ns, label, highlights, timeline}. The
-- `score` column keeps the best highlight's score for filtering and sorting.
ALTER TABLE clips ADD COLUMN score_detail TEXT;
