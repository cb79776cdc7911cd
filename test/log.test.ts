/**
 * The logger drops a line below its level before winston's stream sees it (intake and delivery
 * log a debug line per order and per document), and otherwise behaves as winston does: child
 * loggers keep their fields, a level changed later takes effect, a detached method works.
 */
import { describe, expect, it, vi } from 'vitest';
import { createLogger } from '../src/log/logger.js';
import { captureStream } from './helpers.js';

function lines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('logger levels', () => {
  it('at info, a debug line never enters winston’s stream; info and above do', () => {
    const sink = captureStream();
    const logger = createLogger({ format: 'json', level: 'info', stream: sink.stream });
    const write = vi.spyOn(logger, 'write');
    logger.debug('order 1 booked', { order: '1' });
    logger.debug('plain');
    expect(write).not.toHaveBeenCalled();
    logger.info('synced', { source: 'shop' });
    logger.warn('slow');
    logger.error('broken');
    expect(write).toHaveBeenCalledTimes(3);
    expect(lines(sink.text()).map((l) => [l.level, l.message])).toEqual([
      ['info', 'synced'],
      ['warn', 'slow'],
      ['error', 'broken'],
    ]);
  });

  it('child loggers keep their fields, and follow a level changed later', () => {
    const sink = captureStream();
    const logger = createLogger({ format: 'json', level: 'info', stream: sink.stream });
    const child = logger.child({ target: 'rma' });
    expect(child.debug('hidden')).toBe(child);
    logger.level = 'debug';
    child.debug('delivered invoice 1001', { document: 'invoice/1001' });
    logger.level = 'warn';
    child.info('hidden too');
    child.warn('retrying');
    expect(lines(sink.text())).toEqual([
      expect.objectContaining({ level: 'debug', message: 'delivered invoice 1001', target: 'rma', document: 'invoice/1001' }),
      expect.objectContaining({ level: 'warn', message: 'retrying', target: 'rma' }),
    ]);
  });

  it('works called detached, and logger.log(level, …) is filtered as before', () => {
    const sink = captureStream();
    const logger = createLogger({ format: 'json', level: 'info', stream: sink.stream });
    const { warn, debug } = logger;
    warn('detached');
    debug('detached debug');
    logger.log('debug', 'through log()');
    logger.log('info', 'through log() at info');
    expect(lines(sink.text()).map((l) => l.message)).toEqual(['detached', 'through log() at info']);
  });
});
