/** The typed error every mod factory raises for a bad parameter. */
import { OptionError } from '@flexattn/ir';

/**
 * A parameter of a mod factory is out of range or malformed. It is an ir `OptionError` (so one
 * `instanceof OptionError` catches every bad-option error of flexattn) and names the factory and
 * the parameter, both in the message and as fields.
 */
export class ModOptionError extends OptionError {
  static {
    this.prototype.name = 'ModOptionError'; // survives minification (see ir's FlexAttnError)
  }
  constructor(
    readonly mod: string,
    readonly param: string,
    problem: string,
  ) {
    super(`${mod}: parameter '${param}' ${problem}`);
  }
}
