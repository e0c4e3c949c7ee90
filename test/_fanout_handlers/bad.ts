/** Test handler module that exports no handler factory. */
export const nothing = 1;
