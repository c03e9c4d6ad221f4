import type { CollectionDefinition } from './collection';
import { hazardousAreas } from './hazardousArea';
import { landReleases } from './landRelease';
import { minefieldRecords } from './minefieldRecord';
import { testimonies } from './testimony';

export const collections: CollectionDefinition[] = [hazardousAreas, landReleases, minefieldRecords, testimonies];
export const collectionById = new Map(collections.map((collection) => [collection.id, collection]));
