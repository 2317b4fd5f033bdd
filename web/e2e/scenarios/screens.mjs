export default { name: 'screens', async run() {} };
