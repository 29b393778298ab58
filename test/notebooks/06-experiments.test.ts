import { checkNotebook } from "./notebook-check.js";

checkNotebook("06-experiments", { minSvgFigures: 1 });
