DROP TABLE objects;
DROP INDEX commits_branch_page;
ALTER TABLE commits DROP COLUMN parents;
ALTER TABLE commits DROP COLUMN total_children_count;
ALTER TABLE commits DROP CONSTRAINT commits_stream_id_branch_name_fkey;
DROP TABLE branches;
