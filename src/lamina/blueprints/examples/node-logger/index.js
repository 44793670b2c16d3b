// A small levelled logger: one line per message, its level first, as the console writes them.
const logger = {
  info: (...args) => console.info(...args),
  warn: (...args) => console.warn(...args),
  error: (...args) => console.error(...args),
};

exports.handler = async (event) => {
  logger.info("processing", JSON.stringify(event));
  if (!event.name) logger.warn("no name in the event");
  if (event.fail) logger.error("asked to report an error");
  return "logged";
};
