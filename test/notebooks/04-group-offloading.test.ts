import { checkNotebook } from "./notebook-check.js";

checkNotebook("04-group-offloading", { minSvgFigures: 3 });
