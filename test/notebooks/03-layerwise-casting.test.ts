import { checkNotebook } from "./notebook-check.js";

checkNotebook("03-layerwise-casting", { minSvgFigures: 1 });
