// Answers GET / on $PORT (8080 when unset).
const express = require('express');

const app = express();
const port = Number(process.env.PORT || 8080);

app.get('/', (req, res) => {
  res.type('text').send('hello from node-express\n');
});

app.listen(port, () => console.log(`listening on ${port}`));
