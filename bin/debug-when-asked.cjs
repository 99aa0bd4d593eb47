// What the bundle gets for `debug`, which oclif logs through: loading it (and supports-color,
// tty...) cost every start 6 ms. Its loggers do nothing unless DEBUG names some, so it is
// loaded only then.
module.exports = process.env.DEBUG ? require('debug/src/index.js') : () => Object.assign(() => undefined, {enabled: false})
