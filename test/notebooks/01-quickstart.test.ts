import { checkNotebook } from "./notebook-check.js";

checkNotebook("01-quickstart", { minSvgFigures: 3 });
