const responses = require("../responses");

const users = { 1: { id: 1, name: "Ada" }, 2: { id: 2, name: "Grace" } };

exports.handle = async (event) => {
  if (event.id === undefined) return responses.ok(Object.values(users));
  const user = users[event.id];
  return user ? responses.ok(user) : responses.notFound(`no user ${event.id}`);
};
