import { checkNotebook } from "./notebook-check.js";

checkNotebook("05-plan-a-gpu-you-dont-have", { minSvgFigures: 2 });
