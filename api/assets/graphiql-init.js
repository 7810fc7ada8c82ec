// GraphiQL on podium's own /graphql, from assets served by podium (no CDN).
(function () {
  'use strict';
  var fetcher = GraphiQL.createFetcher({ url: '/graphql' });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true })
  );
})();
