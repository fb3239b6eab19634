import type { MethodInfo } from '../../preload/api';

/** The registered PEFT methods with their options, defaults and one-line explanations, for the new-run form. */
export async function listMethodInfo(): Promise<MethodInfo[]> {
  // The engine (and tfjs) loads when first asked, not at studio start-up.
  const { listMethods } = await import('../engine/methods/registry');
  return listMethods().map((method) => {
    const shape = (method.options as { shape?: Record<string, { description?: string }> }).shape ?? {};
    const defaults = method.options.safeParse({});
    const defaultOf = (key: string) => (defaults.success ? (defaults.data as Record<string, unknown>)[key] : undefined);
    return {
      name: method.name,
      description: method.description,
      options: Object.entries(shape).map(([key, field]) => ({ key, description: field.description ?? '', default: defaultOf(key) })),
    };
  });
}
