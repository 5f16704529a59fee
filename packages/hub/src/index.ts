export { HubError } from './errors.js';
export {
  type HubOptions,
  hubCacheDir,
  hubDownload,
  hubFileExists,
  isHubId,
  snapshotDownload,
} from './hub.js';
export { type DownloadUrlOptions, downloadUrl } from './url.js';
