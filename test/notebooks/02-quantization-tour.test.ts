import { checkNotebook } from "./notebook-check.js";

checkNotebook("02-quantization-tour", { minSvgFigures: 1 });
