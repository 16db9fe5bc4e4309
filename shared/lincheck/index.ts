// Public API of the linearizability checker.

export type { Model, Operation, Partition, StepResult } from './model.js';
export { HistoryParseError, STEP_FAIL, hashString, mixHash, partitionByKey } from './model.js';
export type { CheckOptions, CheckResult, PrefixEntry } from './checker.js';
export { DEFAULT_TIMEOUT_MS, checkOperations } from './checker.js';
export type { ReportOptions } from './report.js';
export { formatDetails, formatPrefixEntry, verdictText } from './report.js';

export type { RegisterInput, RegisterOp, RegisterOutput, RegisterValue } from './models/register.js';
export { registerModel } from './models/register.js';
export type { KvAppendInput, KvAppendOp, KvAppendOutput } from './models/kv-append.js';
export { kvAppendModel } from './models/kv-append.js';
export type { CellkvInput, CellkvOp, CellkvOutput, CellkvState } from './models/cellkv.js';
export { cellkvModel, createCellkvModel } from './models/cellkv.js';
export type { CellkvFacts } from './models/cellkv-facts.js';
export { NO_FACTS, cellkvFacts } from './models/cellkv-facts.js';

export { parseJepsenLog } from './parse-jepsen.js';
export { parsePorcupineKv } from './parse-porcupine-kv.js';
export type {
  CasOutput,
  DeleteOutput,
  GetOutput,
  HistoryHeader,
  HistoryOpName,
  HistoryOutcome,
  HistoryOutput,
  HistoryRecord,
  ParsedHistory,
  PutOutput,
} from './history.js';
export { HISTORY_FORMAT, formatHistory, formatRecord, isVersionString, parseHistory, validateRecord } from './history.js';
export { cellkvOperations, checkCellkvHistory } from './check-cellkv.js';
export type { HistoryFormat, TextCheck } from './formats.js';
export { checkHistoryText, detectFormat } from './formats.js';
