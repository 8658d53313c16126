DROP INDEX streams_page;
DROP TABLE commits;
