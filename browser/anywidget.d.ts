// anywidget's front-end package is an AMD module (define(["@jupyter-widgets/base"], factory)) without types.
declare module "anywidget";
