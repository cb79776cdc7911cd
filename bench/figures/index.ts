/**
 * Every figure `npm run bench` knows, in the order they run and print. A new figure is one
 * file in this folder exporting a `Figure` (see ../harness.ts), added to this list.
 */
import type { Figure } from '../harness.js';
import { deliveryFigure, latencyFigure } from './delivery.js';
import { enqueueFigure } from './enqueue.js';
import { mappingFigure } from './mapping.js';
import { memoryFigure } from './memory.js';
import { pullFigure } from './pull.js';
import { startFigure } from './start.js';

export const FIGURES: readonly Figure[] = [mappingFigure, pullFigure, enqueueFigure, deliveryFigure, latencyFigure, memoryFigure, startFigure];
