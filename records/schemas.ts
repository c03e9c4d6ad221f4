// JSON Schemas of each record kind's input properties (docs/records.md). They validate
// input and are published in the OpenAPI document, so the two cannot drift apart.
import Ajv, { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import type { FieldProblem } from '../server/problem';

export const HAZARD_TYPES = ['AP', 'AT', 'CMR', 'UXO', 'AXO', 'IED', 'booby-trap'] as const;
export const LANGUAGES = ['en', 'az', 'hy', 'ka', 'ru'] as const;

const date = { type: 'string', format: 'date' } as const;
const dateTime = { type: 'string', format: 'date-time' } as const;
const text = (maxLength = 2000) => ({ type: 'string', minLength: 1, maxLength }) as const;
const multilingual = {
  type: 'object',
  propertyNames: { enum: LANGUAGES },
  additionalProperties: { type: 'string', maxLength: 20000 },
} as const;
const hazardType = { enum: HAZARD_TYPES } as const;
const uuid = { type: 'string', format: 'uuid' } as const;

/** Set by the service; accepted on input so a fetched feature can be sent back, then ignored. */
export const SERVER_FIELDS = [
  'id', 'ownerAgency', 'version', 'createdBy', 'createdAt', 'updatedBy', 'updatedAt', 'retired',
  'inputCrs', 'inputGeometry', 'status', 'statusHistory', 'originalAreaM2', 'remainingAreaM2',
  'releasedAreaM2', 'remainingGeometry', 'areaM2', 'traverseMisclosureM', 'accessLevel', 'generalised', 'restricted',
];

const common = { localRef: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[^\\s].*$' } };

export const hazardousAreaSchema = {
  type: 'object',
  required: ['localRef', 'classification', 'hazardTypes', 'informationDate'],
  additionalProperties: false,
  properties: {
    ...common,
    name: multilingual,
    classification: { enum: ['SHA', 'CHA'] },
    hazardTypes: { type: 'array', items: hazardType, minItems: 1, uniqueItems: true },
    evidence: {
      type: 'array',
      maxItems: 200,
      items: {
        type: 'object',
        required: ['nature', 'kind', 'reliability'],
        additionalProperties: false,
        properties: {
          nature: { enum: ['direct', 'indirect'] },
          kind: { enum: ['visual-observation', 'verbal-report', 'records', 'detonation', 'accident', 'marking'] },
          reliability: { enum: ['high', 'medium', 'low'] },
          description: text(),
          date,
        },
      },
    },
    estimatedDeviceCount: { type: ['integer', 'null'], minimum: 0 },
    marking: { enum: ['none', 'partial', 'full'] },
    priority: { enum: ['high', 'medium', 'low'] },
    informationDate: date,
  },
} as const;

export const landReleaseSchema = {
  type: 'object',
  required: ['localRef', 'hazardousAreaId', 'method', 'activity', 'releaseDate', 'operator'],
  additionalProperties: false,
  properties: {
    ...common,
    hazardousAreaId: uuid,
    method: { enum: ['cancelled', 'reduced', 'cleared'] },
    activity: { enum: ['NTS', 'TS', 'clearance'] },
    releaseDate: date,
    operator: text(200),
    clearanceDepthCm: { type: 'integer', minimum: 1, maximum: 1000 },
    devicesFound: {
      type: 'array',
      items: { type: 'object', required: ['type', 'count'], additionalProperties: false, properties: { type: hazardType, count: { type: 'integer', minimum: 0 } } },
    },
    handover: {
      oneOf: [
        { type: 'null' },
        {
          type: 'object',
          required: ['certificateRef', 'date', 'recipient'],
          additionalProperties: false,
          properties: { certificateRef: text(100), date, recipient: text(200) },
        },
      ],
    },
  },
  allOf: [
    { if: { properties: { method: { const: 'cleared' } }, required: ['method'] }, then: { required: ['clearanceDepthCm'] } },
    { if: { properties: { method: { const: 'cancelled' } }, required: ['method'] }, then: { properties: { activity: { const: 'NTS' } } } },
    { if: { properties: { method: { const: 'reduced' } }, required: ['method'] }, then: { properties: { activity: { const: 'TS' } } } },
    { if: { properties: { method: { const: 'cleared' } }, required: ['method'] }, then: { properties: { activity: { const: 'clearance' } } } },
  ],
} as const;

export const minefieldRecordSchema = {
  type: 'object',
  required: ['localRef', 'referencePoints', 'mineTypes', 'emplacingMethod'],
  additionalProperties: false,
  properties: {
    ...common,
    name: multilingual,
    referencePoints: {
      type: 'array',
      minItems: 2,
      maxItems: 20,
      items: {
        type: 'object',
        required: ['label', 'coordinates'],
        additionalProperties: false,
        properties: {
          label: text(64),
          description: text(),
          coordinates: { type: 'array', minItems: 2, maxItems: 3, items: { type: 'number' } },
        },
      },
    },
    traverse: {
      type: 'object',
      required: ['from', 'legs'],
      additionalProperties: false,
      properties: {
        from: text(64),
        approachLegs: { type: 'integer', minimum: 0 },
        legs: {
          type: 'array',
          minItems: 3,
          maxItems: 500,
          items: {
            type: 'object',
            required: ['bearing', 'distance'],
            additionalProperties: false,
            properties: { bearing: { type: 'number', minimum: 0, exclusiveMaximum: 360 }, distance: { type: 'number', exclusiveMinimum: 0, maximum: 50000 } },
          },
        },
      },
    },
    mineTypes: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['type'],
        additionalProperties: false,
        properties: { type: hazardType, model: text(100), count: { type: 'integer', minimum: 0 } },
      },
    },
    totalMines: { type: ['integer', 'null'], minimum: 0 },
    emplacingMethod: { enum: ['hand-laid', 'mechanical', 'remotely-delivered'] },
    fuzeType: text(200),
    fuzeLifetime: text(200),
    selfDestructPeriod: text(200),
    laidFrom: dateTime,
    laidTo: dateTime,
    antiHandling: {
      type: 'object',
      required: ['present'],
      additionalProperties: false,
      properties: { present: { type: 'boolean' }, description: text() },
    },
    rows: {
      type: 'array',
      items: {
        type: 'object',
        required: ['label'],
        additionalProperties: false,
        properties: { label: text(64), mineCount: { type: 'integer', minimum: 0 }, spacingM: { type: 'number', exclusiveMinimum: 0 } },
      },
    },
    accuracyAssessment: {
      type: 'object',
      required: ['grade'],
      additionalProperties: false,
      properties: {
        grade: { enum: ['verified', 'approximate', 'unreliable', 'unassessed'] },
        estimatedAccuracyPct: { type: 'number', minimum: 0, maximum: 100 },
        assessedBy: text(200),
        date,
        comment: text(),
      },
    },
    source: {
      type: 'object',
      additionalProperties: false,
      properties: { party: text(200), handoverDate: date, document: text(200) },
    },
    hazardousAreaIds: { type: 'array', items: uuid, uniqueItems: true },
  },
} as const;

export const testimonySchema = {
  type: 'object',
  required: ['localRef', 'informantCode', 'interview', 'narrative', 'uncertaintyM', 'sourceReliability', 'informationReliability'],
  additionalProperties: false,
  properties: {
    ...common,
    informantCode: text(64),
    interview: {
      type: 'object',
      required: ['date', 'place', 'language'],
      additionalProperties: false,
      properties: { date, place: text(200), language: { enum: LANGUAGES }, interviewers: text(200) },
    },
    narrative: {
      type: 'object',
      required: ['language', 'text'],
      additionalProperties: false,
      properties: { language: { enum: LANGUAGES }, text: text(100000), translations: multilingual },
    },
    uncertaintyM: { type: 'number', minimum: 0, maximum: 100000 },
    devicesDescribed: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type'],
        additionalProperties: false,
        properties: { type: hazardType, count: { type: 'integer', minimum: 0 }, description: text() },
      },
    },
    layingPeriod: { type: 'object', additionalProperties: false, properties: { from: date, to: date } },
    sourceReliability: { enum: ['A', 'B', 'C', 'D', 'E', 'F'] },
    informationReliability: { enum: ['1', '2', '3', '4', '5', '6'] },
    hazardousAreaLinks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['hazardousAreaId', 'relation'],
        additionalProperties: false,
        properties: { hazardousAreaId: uuid, relation: { enum: ['supports', 'contradicts'] } },
      },
    },
  },
} as const;

export const informantSchema = {
  type: 'object',
  required: ['code', 'fullName'],
  additionalProperties: false,
  properties: { code: text(64), fullName: text(200), contact: text(500), notes: text() },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);

export type PropertyValidator = (properties: unknown, featureIndex?: number) => FieldProblem[];

export function compileValidator(schema: object, pointerPrefix = '/properties'): PropertyValidator {
  const validate = ajv.compile(schema);
  return (properties, featureIndex) => {
    if (validate(properties)) return [];
    return (validate.errors ?? []).filter((error) => error.keyword !== 'if').map((error) => toFieldProblem(error, pointerPrefix, featureIndex));
  };
}

function toFieldProblem(error: ErrorObject, prefix: string, feature?: number): FieldProblem {
  let field = `${prefix}${error.instancePath}`;
  let reason = error.message ?? 'is not valid';
  if (error.keyword === 'additionalProperties') {
    field = `${field}/${(error.params as { additionalProperty: string }).additionalProperty}`;
    reason = 'is not a known property';
  } else if (error.keyword === 'required') {
    field = `${field}/${(error.params as { missingProperty: string }).missingProperty}`;
    reason = 'is required';
  } else if (error.keyword === 'enum') {
    reason = `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
  } else if (error.keyword === 'const') {
    reason = `must be ${JSON.stringify((error.params as { allowedValue: unknown }).allowedValue)}`;
  }
  return feature === undefined ? { field, reason } : { feature, field, reason };
}
