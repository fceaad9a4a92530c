// Query ranges for browser scenarios that may cross a UTC midnight while they run (a CI run
// starts at any hour): each site is fresh, so a range of several days around now holds
// exactly the scenario's data, whichever side of midnight each event fell on.
const day = (ms) => new Date(ms).toISOString().slice(0, 10);

// `from`/`to` for the API (`to` exclusive): yesterday to the day after tomorrow, as of now.
export const apiRange = () => `from=${day(Date.now() - 86_400_000)}&to=${day(Date.now() + 2 * 86_400_000)}`;

// `from`/`to` for a dashboard URL (`to` inclusive): yesterday to tomorrow, as of now.
export const dashRange = () => `from=${day(Date.now() - 86_400_000)}&to=${day(Date.now() + 86_400_000)}`;
