import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type AppProps, type CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { afterAll } from 'vitest';
import {
  TripSyncRealtimeStack,
  type TripSyncRealtimeStackProps,
} from '../../lib/tripsync-realtime-stack';

/** A synthesized stack with the handles tests need to find its resources. */
export interface SynthesizedStack {
  app: App;
  stack: TripSyncRealtimeStack;
  template: Template;
}

let scratch: string | undefined;
let stackCount = 0;

/**
 * This test file's folder for cloud assemblies, made on first use. Every app of a test gets
 * its output directory here (an `App` without `outdir` makes a `cdk.out*` folder in the temp
 * folder and leaves it there), and the folder goes when the file's tests end.
 */
function scratchDir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'tripsync-cdk-'));
  return scratch;
}

// Registered when a test file imports this module: it runs after that file's tests, passed
// or failed (an exit handler would not: Vitest ends its workers with a signal).
afterAll(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
});

/**
 * A CDK app for a test, with its output directory in the file's scratch folder. Use it
 * wherever a test would write `new App(...)`. CDK's built-in CloudFormation validation is off
 * unless `props` turn it on: its engine takes seconds of CPU to start in each process, and the
 * tests that check what it finds turn it on (realtime-nag.test.ts, the `cdk synth` CLI test).
 *
 * @example
 * const stack = new Stack(testApp({ context: NO_BUNDLING_CONTEXT }), 'Kms');
 */
export function testApp(props: AppProps = {}): App {
  return new App({
    outdir: mkdtempSync(join(scratchDir(), 'app-')),
    builtinCloudFormationValidation: false,
    ...props,
  });
}

/**
 * One cloud assembly directory for every {@link synthesizeStack} of a test file. CDK caches a
 * bundle per output directory, so stacks synthesized into the same directory bundle the five
 * functions only once.
 */
function sharedOutdir(): string {
  return join(scratchDir(), 'shared');
}

/** How {@link synthesizeStack} builds the app. */
export interface SynthesizeOptions {
  /** Adds constructs to the stack before synthesis (e.g. a `grantSend` grantee). */
  extend?: (stack: TripSyncRealtimeStack) => void;
  /**
   * Bundle the functions with esbuild. Tests that only read the template can skip it: the
   * template is the same but for the asset hashes.
   *
   * @default true
   */
  bundle?: boolean;
}

/**
 * Builds the stack in a fresh app and synthesizes it. Bundling the five functions takes
 * seconds the first time in a process; later stacks reuse the bundles. Call it in
 * `beforeAll`, once per configuration.
 *
 * CDK's built-in CloudFormation schema validation is off here: in a test it only logs (it
 * adds seconds per file and fails nothing). The CLI test (`cdk synth`) runs it and asserts on
 * its report.
 *
 * @example
 * let synth: SynthesizedStack;
 * beforeAll(() => { synth = synthesizeStack({ stageName: 'test' }); });
 */
export function synthesizeStack(
  props: TripSyncRealtimeStackProps = {},
  options: SynthesizeOptions = {},
): SynthesizedStack {
  const app = new App({
    outdir: sharedOutdir(),
    builtinCloudFormationValidation: false,
    context: options.bundle === false ? NO_BUNDLING_CONTEXT : {},
  });
  stackCount += 1;
  const stack = new TripSyncRealtimeStack(app, `RealtimeTest${stackCount}`, props);
  options.extend?.(stack);
  return { app, stack, template: Template.fromStack(stack) };
}

/** Context that makes CDK skip asset bundling in every stack. */
export const NO_BUNDLING_CONTEXT = { 'aws:cdk:bundling-stacks': [] };

/** The logical id of an L2 construct's CloudFormation resource, or of an L1 element. */
export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  return Stack.of(construct).getLogicalId(element);
}

/** An IAM policy statement as it appears in the template. */
export interface TemplateStatement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Every statement of every `AWS::IAM::Policy` attached to the role with this logical id. */
export function statementsOfRole(template: Template, roleLogicalId: string): TemplateStatement[] {
  const policies = template.findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((policy) =>
      (policy.Properties.Roles as unknown[]).some(
        (role) => JSON.stringify(role) === JSON.stringify({ Ref: roleLogicalId }),
      ),
    )
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as TemplateStatement[]);
}

/** Every statement of every `AWS::IAM::Policy` in the template. */
export function allStatements(template: Template): TemplateStatement[] {
  return Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as TemplateStatement[],
  );
}

/** A statement's actions or resources as an array. */
export function asArray<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}
