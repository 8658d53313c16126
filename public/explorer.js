// Starts GraphiQL (GET /graphql) from the pinned files beside this one; no CDN, no inline script.
(function () {
  const fetcher = GraphiQL.createFetcher({ url: '/graphql' });
  const root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery:
        '# Queries that need a token: add it under "Headers" below, as\n' +
        '# { "Authorization": "Bearer spk_…" }\n' +
        '# (make one on /profile, in "Your Apps").\n\n' +
        '{\n  serverInfo {\n    name\n    version\n  }\n}\n',
    }),
  );
})();
